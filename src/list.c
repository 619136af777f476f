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
    brain__entry_fill_info(b, e, &c->items[c->count], 0);
    c->hashes[c->count] = e->hash;
    memcpy(c->strings + c->slen, e->strings, need);
    /* offsets for now; pointers once the buffer stops moving */
    c->items[c->count].ns = (const char *)(uintptr_t)c->slen;
    c->slen += need;
    c->count++;
    return 0;
}

int brain_list_names(brain *b, const char *ns, int all_ns, brain_list **out)
{
    brain__clear_error();
    struct brain__key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, NULL, &k, 1)))
        return rc;
    if (!out)
        return brain__fail(BRAIN_EINVAL, "brain_list_names: out is NULL");
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

/* brain_list_sorted_names gathers one record a name, then sorts the
 * records: an MSD radix sort on 8 name bytes at a time (an LSD radix sort
 * of the 8-byte keys at each level; runs of equal keys go on with the next
 * 8 bytes).  A record is self-contained, so sorting never chases pointers
 * for names that differ in their first 8 bytes. */
struct name_rec {
    uint64_t key;      /* name bytes [depth, depth + 8), big-endian, 0-padded */
    uint32_t off;      /* of the name in the strings buffer */
    uint16_t ns_len, name_len;
};

/* The strings buffer holds, for each name, "ns NUL" when listing every
 * namespace (ns_len is 0 otherwise), then "name NUL". */

struct names_ctx {
    const struct brain__key *k;
    int all_ns;
    int64_t now;
    struct name_rec *recs;
    char *strings;
    size_t cap, scap, slen, count;
};

static const char *rec_name(const char *strings, const struct name_rec *r)
{
    return strings + r->off;
}

static const char *rec_ns(const char *strings, const struct name_rec *r)
{
    return strings + r->off - r->ns_len - 1;
}


static uint64_t name_key(const char *name, size_t len, size_t depth)
{
    unsigned char buf[8] = {0};
    if (len > depth)
        memcpy(buf, name + depth, len - depth < 8 ? len - depth : 8);
    uint64_t k;
    memcpy(&k, buf, 8);
    return __builtin_bswap64(k);
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
    size_t nsl = c->all_ns ? e->ns_len + 1u : 0, need = nsl + e->name_len + 1;
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
    /* "ns NUL name NUL", or from the name on */
    memcpy(c->strings + c->slen, e->strings + (e->ns_len + 1u - nsl), need);
    c->recs[c->count++] = (struct name_rec){
        name_key(e->strings + e->ns_len + 1, e->name_len, 0),
        (uint32_t)(c->slen + nsl), (uint16_t)(nsl ? e->ns_len : 0), e->name_len};
    c->slen += need;
    return 0;
}

/* Names by bytes from DEPTH on (UTF-8 byte order is code point order),
 * then namespaces. */
static int rec_cmp(const char *strings, const struct name_rec *x, const struct name_rec *y,
                   size_t depth)
{
    size_t lx = x->name_len, ly = y->name_len, m = lx < ly ? lx : ly;
    if (m > depth) {
        int c = memcmp(rec_name(strings, x) + depth, rec_name(strings, y) + depth, m - depth);
        if (c)
            return c;
    }
    if (lx != ly)
        return lx < ly ? -1 : 1;
    size_t nx = x->ns_len, ny = y->ns_len;
    int c = memcmp(rec_ns(strings, x), rec_ns(strings, y), nx < ny ? nx : ny);
    return c ? c : (nx > ny) - (nx < ny);
}

/* LSD radix sort of R[0..n) by key, 8-bit digits, skipping the digits all
 * keys share; TMP has room for n. */
static void radix_sort_recs(struct name_rec *r, struct name_rec *tmp, size_t n)
{
    size_t cnt[8][256];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = r[i].key;
        for (int d = 0; d < 8; d++)
            cnt[d][(k >> (8 * d)) & 255]++;
    }
    struct name_rec *src = r, *dst = tmp;
    for (int d = 0; d < 8; d++) {
        size_t *c = cnt[d];
        if (c[(r[0].key >> (8 * d)) & 255] == n)
            continue; /* every key has this digit */
        size_t sum = 0;
        for (int v = 0; v < 256; v++) {
            size_t t = c[v];
            c[v] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i].key >> (8 * d)) & 255]++] = src[i];
        struct name_rec *t = src;
        src = dst;
        dst = t;
    }
    if (src != r)
        memcpy(r, src, n * sizeof *r);
}

/* Sorts R[0..n), whose keys hold the name bytes from DEPTH on (the bytes
 * before are equal); TMP is scratch for n records. */
static void sort_names(const char *strings, struct name_rec *r, struct name_rec *tmp, size_t n,
                       size_t depth)
{
    /* already in order (names stored in order and never moved, walked in
     * file order): one pass, which stops at the first pair out of order */
    size_t s = 1;
    while (s < n && (r[s - 1].key < r[s].key ||
                     (r[s - 1].key == r[s].key && rec_cmp(strings, &r[s - 1], &r[s], depth) <= 0)))
        s++;
    if (s >= n)
        return;
    if (n < 32) { /* insertion sort on the keys */
        for (size_t i = 1; i < n; i++) {
            struct name_rec v = r[i];
            size_t j = i;
            while (j > 0 && r[j - 1].key > v.key) {
                r[j] = r[j - 1];
                j--;
            }
            r[j] = v;
        }
    } else {
        radix_sort_recs(r, tmp, n);
    }
    /* runs of equal keys: the next 8 bytes, or (the same name) namespaces */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int longer = r[i].name_len > depth + 8;
        while (j < n && r[j].key == r[i].key) {
            longer |= r[j].name_len > depth + 8;
            j++;
        }
        if (j - i > 1 && longer) {
            for (size_t x = i; x < j; x++)
                r[x].key = name_key(rec_name(strings, &r[x]), r[x].name_len, depth + 8);
            sort_names(strings, r + i, tmp + i, j - i, depth + 8);
        } else if (j - i > 1) {
            for (size_t x = i + 1; x < j; x++) {
                struct name_rec v = r[x];
                size_t y = x;
                while (y > i && rec_cmp(strings, &r[y - 1], &v, depth + 8) > 0) {
                    r[y] = r[y - 1];
                    y--;
                }
                r[y] = v;
            }
        }
        i = j;
    }
}

struct names_impl {
    brain_names pub;
    char *strings;
    void *arrays;
    char ns[BRAIN_NS_MAX + 1]; /* the namespace listed (one namespace) */
};

int brain_list_sorted_names(brain *b, const char *ns, int all_ns, brain_names **out)
{
    brain__clear_error();
    struct brain__key k;
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, NULL, &k, 1)))
        return rc;
    if (!out)
        return brain__fail(BRAIN_EINVAL, "brain_list_sorted_names: out is NULL");
    *out = NULL;
    /* room for the names there are now, so that it rarely grows */
    uint64_t live = b->h->index_count, most = atomic_load(&b->h->file_size) / 128;
    size_t guess = (size_t)(live < most ? live : most) + 1024;
    struct names_ctx c = {&k, all_ns, 0, NULL, NULL, guess, guess * 16, 0, 0};
    c.recs = malloc(c.cap * sizeof *c.recs);
    c.strings = malloc(c.scap);
    struct names_impl *L = calloc(1, sizeof *L);
    void *arr = NULL;
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
    /* scratch for the sort, then the results: 2 pointers and a length a name */
    arr = malloc(n * (2 * sizeof(char *) + sizeof(uint32_t)) + 1);
    if (!arr)
        goto nomem;
    sort_names(c.strings, c.recs, arr, n, 0);
    /* A name deleted and stored again while the scan ran can have been
     * seen twice; sorted, the two are neighbours: list it once. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!moved || !m || rec_cmp(c.strings, &c.recs[m - 1], &c.recs[i], 0) != 0)
            c.recs[m++] = c.recs[i];
    const char **names = arr, **nss = names + m;
    uint32_t *lens = (uint32_t *)(nss + m);
    for (size_t i = 0; i < m; i++) {
        nss[i] = all_ns ? rec_ns(c.strings, &c.recs[i]) : L->ns;
        names[i] = rec_name(c.strings, &c.recs[i]);
        lens[i] = c.recs[i].name_len;
    }
    free(c.recs);
    L->pub.count = m;
    L->pub.names = names;
    L->pub.ns = nss;
    L->pub.name_lens = lens;
    L->strings = c.strings;
    L->arrays = arr;
    *out = &L->pub;
    return 0;
nomem:
    rc = brain__fail(BRAIN_ENOMEM, "out of memory while listing");
fail:
    free(c.recs);
    free(c.strings);
    free(arr);
    free(L);
    return rc;
}

void brain_names_free(brain_names *list)
{
    if (!list)
        return;
    struct names_impl *L = (struct names_impl *)list;
    free(L->strings);
    free(L->arrays);
    free(L);
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

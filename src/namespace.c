/*
 * namespace.c - the namespace table: one record per namespace with the
 * number of names and bytes it holds and the version of its last change.
 *
 * An open-addressing table of max_namespaces records, keyed by the
 * namespace's hash.  Records are never deleted one by one (an emptied
 * namespace keeps its record, so waiters still see its version); when the
 * table fills, writers compact it, dropping empty records.  Readers look
 * records up without a lock: a record's name is written before its `used`
 * flag (release), and compaction runs inside a batch_seq bump.
 */
#include "internal.h"

#include <stdlib.h>

uint64_t brain__ns_hash(const brain *b, const char *ns, size_t len)
{
    return brain__key_hash(b->h->hash_seed, ns, len, "", 0);
}

int brain__ns_find(brain *b, const char *ns, size_t len)
{
    uint32_t n = b->h->max_namespaces;
    uint32_t i = (uint32_t)(brain__ns_hash(b, ns, len) % n);
    for (uint32_t k = 0; k < n; k++, i = (i + 1) % n) {
        struct brain__nsrec *r = brain__nsrec_at(b, i);
        if (!atomic_load_explicit(&r->used, memory_order_acquire))
            return -1;
        if (r->len == len && memcmp(r->name, ns, len) == 0)
            return (int)i;
    }
    return -1;
}

static int ns_insert(brain *b, const char *ns, size_t len)
{
    uint32_t n = b->h->max_namespaces;
    uint32_t i = (uint32_t)(brain__ns_hash(b, ns, len) % n);
    for (uint32_t k = 0; k < n; k++, i = (i + 1) % n) {
        struct brain__nsrec *r = brain__nsrec_at(b, i);
        if (atomic_load(&r->used))
            continue;
        r->len = (uint32_t)len;
        memset(r->name, 0, sizeof r->name);
        memcpy(r->name, ns, len);
        r->names = r->bytes = 0;
        r->version = 0;
        atomic_store_explicit(&r->used, 1, memory_order_release);
        return (int)i;
    }
    return -1;
}

/* Drops empty records (but "default") and reinserts the rest. */
static void ns_compact(brain *b)
{
    uint32_t n = b->h->max_namespaces;
    struct brain__nsrec *keep = malloc(sizeof *keep * n);
    if (!keep)
        return;
    uint32_t nk = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct brain__nsrec *r = brain__nsrec_at(b, i);
        if (atomic_load(&r->used) && r->len > 0 && r->len <= BRAIN_NS_MAX &&
            (r->names || (r->len == 7 && memcmp(r->name, "default", 7) == 0)))
            keep[nk++] = *r;
    }
    for (uint32_t i = 0; i < n; i++)
        atomic_store(&brain__nsrec_at(b, i)->used, 0);
    for (uint32_t k = 0; k < nk; k++) {
        int i = ns_insert(b, keep[k].name, keep[k].len);
        if (i >= 0) {
            struct brain__nsrec *r = brain__nsrec_at(b, (uint32_t)i);
            r->names = keep[k].names;
            r->bytes = keep[k].bytes;
            r->version = keep[k].version;
        }
    }
    free(keep);
}

int brain__ns_get_or_add(brain *b, const char *ns, size_t len)
{
    int i = brain__ns_find(b, ns, len);
    if (i >= 0)
        return i;
    i = ns_insert(b, ns, len);
    if (i >= 0)
        return i;
    ns_compact(b);
    i = ns_insert(b, ns, len);
    if (i >= 0)
        return i;
    return brain__fail(BRAIN_ENSFULL,
                   "store '%s' already has %u namespaces holding names; remove some "
                   "namespaces or create the store with a larger max_namespaces",
                   b->path, b->h->max_namespaces);
}

void brain__ns_account(brain *b, int idx, int64_t dnames, int64_t dbytes, uint64_t version)
{
    if (idx < 0)
        return;
    struct brain__nsrec *r = brain__nsrec_at(b, (uint32_t)idx);
    r->names = (uint64_t)((int64_t)r->names + dnames);
    r->bytes = (uint64_t)((int64_t)r->bytes + dbytes);
    if (version)
        r->version = version;
}
